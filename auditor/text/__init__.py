"""Text domain (issue 29): tokenisation, a sentence VAE generator and a reference
classifier for (premise, hypothesis) pairs, as in the SNLI half of Zhao, Dua & Singh
(ICLR 2018). Torch and numpy only at run time; bundles are plain arrays."""
