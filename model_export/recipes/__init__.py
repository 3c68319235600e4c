"""Recipes: what the make targets run end to end, built on training, evaluation and export.

    grouped_cv.py     `make cv`: grouped (spatial) cross-validation of candidate recipes
    final_model.py    the chosen recipe trained on all of train/, with calibration
    default_model.py  `make model`: CV, final training, export, card and catalogue entry
    ablation.py       `make ablation`: UPSeg vs baselines over several seeds (ablation_stats: tests)
"""
