"""Reading what models learnt and how they compare: representation spectra, effective rank and the
field-correspondence heat map (paper Fig. 2, 8, 9), the statistics of model comparisons
(`significance`), and their PNG figures (`plots`)."""
