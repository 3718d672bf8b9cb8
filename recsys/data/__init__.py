"""Raw MovieLens data for the pipeline: GroupLens releases downloaded and checked
(`datasets`), or synthetic data of any shape (`synth`)."""
