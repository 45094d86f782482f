"""digit-edge convert stage: Keras models to TFLite files, evaluated through the edge runtime."""
