__version__ = "0.1.0"

import warnings
# Two warnings of the pinned stack that every tsic import would print and no tsic user can act on: fastai 2.8.7 (the
# newest fastai for fastcore 1.x, which nbdev 2 needs) decorates functions with `torch.jit.script` at import, which
# torch 2.14 deprecates; tqdm.auto in Jupyter without ipywidgets (tsic's bars are fastprogress's, not tqdm's).
warnings.filterwarnings('ignore', message=r'`torch\.jit\.script` is deprecated', category=FutureWarning)
warnings.filterwarnings('ignore', message=r'IProgress not found')
