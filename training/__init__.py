"""Fine-tune a corebert variant on labelled documents and export the artifact the service loads.

    python -m training train --dataset bbc --variant pfc --output-dir runs/bbc-pfc
    python -m training evaluate runs/bbc-pfc/artifact

Modules: `args` (command-line options), `documents` / `files` / `corpora` / `splits` / `data`
(labelled documents, from files, built-in corpora or the hub, split and checked),
`tokenization`, `backbone` (the pretrained encoder), `train` (HF Trainer), `metrics`,
`artifact` (export, parity gate, atomic write), `evaluate` (ONNX Runtime scoring, no torch).
"""
