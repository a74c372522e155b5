"""bench: comparable training and evaluation of preference-optimisation objectives."""

import warnings

__version__ = "0.1.0"

# alpaca_eval imports pkg_resources, whose deprecation notice the user can do nothing about; it was printed
# once per process (the parent and every worker). Only that notice, and only when alpaca_eval raises it.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning,
                        module=r"alpaca_eval(\.|$)")
