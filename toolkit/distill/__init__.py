"""Knowledge distillation: `kd.py` the technique, `stage.py` the distill stage."""
