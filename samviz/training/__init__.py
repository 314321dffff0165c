"""Training, used by the training CLIs (`python -m samviz.train`, `python -m samviz.training.long_curriculum`) only:
nothing else imports it (the model sizes both a run and a checkpoint may have are samviz.model.SIZE_RANGES).

    config.py     TrainConfig: every setting, its defaults per task and model, its bounds, its CLI flags
    trainer.py    Trainer: updates, validation, the best checkpoint, the training loop
    state.py      the training state that --resume continues from (save, read, restore)
    progress.py   the status line
    run_lock.py   one run per run directory (an flock held for the run's life)
    long_curriculum.py  the paper's long-sequence curriculum (LongTask episodes up to a ceiling), a Trainer subclass

The curriculum is samviz.curriculum; the file formats (checkpoint, optimizer codec) are samviz.checkpoint.
"""
