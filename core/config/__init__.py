"""Configuration: TrainConfig and its defaults (train_config), every option declared once (options), the rules
(validate), config files (files), presets, fine-tune defaults and the architectures' names. Torch-free."""
