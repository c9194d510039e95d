"""``serve``: SageMaker's inference contract over HTTP (nginx in front of gunicorn running a Flask app), one model
per worker, or the models a multi-model endpoint loads.

launcher.py           the ``serve`` supervisor: plans the workers, runs gunicorn and nginx, drains both on SIGTERM
preflight.py          the start-up checks that need MXNet, in a child process, so that the supervisor never loads it
nginx_config.py       nginx's configuration: buffering, limits, deadlines, /ping, its own answers in JSON
runtime.py            the runtime directory: nginx's files, gunicorn's socket, the workers' readiness
gunicorn_config.py    gunicorn's settings and hooks (the arbiter process; no MXNet there)
settings.py           the environment variables serving reads, checked once
workers.py            how many workers, and model threads each, this machine gets
app.py                the Flask app: /ping, /invocations, /execution-parameters
multi_model.py        a multi-model endpoint's /models API, each worker's models kept in step with the registry
registry.py           the models a multi-model endpoint has loaded, one file each, shared by the workers
body.py               a request body whole, within the byte limit, or an error
codecs.py             request decoders and response encoders, keyed by MIME type (media_types.py)
custom_attributes.py  options from X-Amzn-SageMaker-Custom-Attributes (top_k)
records.py            MXNet RecordIO framing of several images in one body
images.py             one encoded image (or array) to the model's channels, size checked first
inputs.py             one image to the model's input, through the training's validation transform
predictor.py          the model of one worker, loaded once after fork
batching.py           requests' turns at the model in arrival order, dynamically batched
errors.py             errors that carry their HTTP status
"""
