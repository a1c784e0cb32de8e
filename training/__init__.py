"""Fine-tune a corebert variant on labelled documents and export the artifact the service loads.

    python -m training train --dataset bbc --variant pfc --output-dir runs/bbc-pfc
    python -m training evaluate runs/bbc-pfc/artifact

Modules: `args` (command-line options), `documents` / `files` / `corpora` / `splits` / `data`
(labelled documents, from files, built-in corpora or the hub, split and checked),
`recipes` (the defaults a run takes), `backbone` (the pretrained encoder), `optimizer`,
`checkpointing`, `train` (HF Trainer), `metrics`, `quality` (the degenerate-model guard),
`artifact` (export, parity gate, atomic write), `evaluate` (ONNX Runtime scoring, no torch).
Tokenization and the ONNX runner live in the torch-free `artifact` package, shared with the
service.
"""
