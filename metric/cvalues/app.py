"""The metric's Hugging Face Space: the standard evaluate widget (a table of predictions and
references in, the scores out). Spaces run ``python app.py``; importing this file starts nothing."""

from pathlib import Path

import evaluate
from evaluate.utils import launch_gradio_widget

if __name__ == "__main__":
    # Load the script next to this file, so the Space scores with exactly the code it ships.
    module = evaluate.load(str(Path(__file__).with_name("cvalues.py")))
    launch_gradio_widget(module)
