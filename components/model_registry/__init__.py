"""ModelRegistryUpload: each pushed model as a new version in the Vertex AI Model Registry."""
