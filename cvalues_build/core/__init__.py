"""The shared core: the benchmark's conventions as plain data, importing neither torch, gradio nor
datasets. Dataset building, model evaluation and the Space all read it; it reads none of them."""
