"""The MIME types ``/invocations`` reads and writes."""

JPEG = "image/jpeg"
PNG = "image/png"
X_IMAGE = "application/x-image"
RECORDIO = "application/x-recordio"
JSONLINES = "application/jsonlines"
NPY = "application/x-npy"
JSON = "application/json"

RESPONSE_TYPES = (JSON, JSONLINES)
