"""The contract every layer shares, and nothing else: feature names and shapes (`features`),
the evaluation splits (`splits`), the top-K and rating metric definitions (`metrics`), the
Evaluator's thresholds (`gates`), names that cross process boundaries (`keys`) and the model
catalogue (`catalogue`).

It imports no TensorFlow and nothing else of the project (import-linter checks both), so the
command line, the serving process and the benchmark peers can read it cheaply.
"""
