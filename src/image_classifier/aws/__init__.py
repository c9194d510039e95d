"""``image-classifier aws ...``: the daily loop on SageMaker with boto3.

upload     a local data folder (one folder per channel) to S3
train      start a training job with this image: channels, hyperparameters, spot, metrics, TensorBoard
status     a training job's status, or (--follow) its status and logs until it ends
deploy     a model, endpoint configuration and endpoint from a finished training job
predict    send an image to an endpoint and print the top classes with their names
transform  a batch transform of an S3 prefix of images with a finished training job's model
"""
