"""Evaluators: score an architecture for a search (`nas.results.Evaluator`): train from scratch,
hypernet score, predictor, or a tabular benchmark (`nas.evaluators.tabular`)."""
