"""digit-edge device runtime: TFLite digit classification with no TensorFlow.

This package is the bottom layer of the project: ``train`` and ``convert`` may import from it,
it imports from neither, and it runs with only numpy, OpenCV and a TFLite interpreter.
"""

__version__ = "0.1.0"
