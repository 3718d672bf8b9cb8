"""The infra check between the Evaluator and the Pusher: the candidate served as TF Serving
would serve it, in a fresh process, before anything is pushed."""
