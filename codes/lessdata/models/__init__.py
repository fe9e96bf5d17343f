"""The study's models: the factory over the hyperparameter tables, IBUG uncertainty and ALIGNN."""
