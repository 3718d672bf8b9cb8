"""What a local run did, read back from ML Metadata: its progress while it runs (`progress`),
each node's state and outputs (`run_summary`) and the HTML report (`report`)."""
