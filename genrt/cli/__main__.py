"""`python -m genrt.cli ...`, as torchrun launches training (`torchrun ... -m genrt.cli train dcgan`)."""

import sys

from genrt.cli import main

sys.exit(main())
