"""oculi: self-hosted image and video analysis that speaks Amazon Rekognition's API."""

__version__ = "0.1.0"
