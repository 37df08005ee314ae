"""auditor: label-free robustness audits of image classifiers via natural adversaries.

Implements Zhao, Dua & Singh, "Generating Natural Adversarial Examples" (ICLR 2018).
"""

__version__ = "0.1.0"
