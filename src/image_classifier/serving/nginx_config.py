"""nginx's configuration for ``serve``: the front door that buffers requests, enforces the limits and answers
/ping, in front of gunicorn on a unix socket (gunicorn's deployment docs advise nginx for exactly this).

What nginx answers alone, so that no slow or broken client ever holds a gunicorn thread:
- a request reaches gunicorn only once nginx holds it whole (bodies over CLIENT_BODY_BUFFER in the runtime
  directory on disk, never in a worker); it answers 413 itself for a body over SAGEMAKER_MAX_PAYLOAD_IN_MB
  (no limit when that is 0: the app then reads JSON Lines and RecordIO in pieces, and answers the 413 for any
  other body over IMAGE_CLASSIFIER_MAX_BODY_IN_MB), 414 for a request line and 431 for a header line over
  HEADER_BUFFER bytes, 400 for malformed HTTP (a bad or doubled Content-Length, one beside chunked, bad chunk
  framing), 501 for a transfer coding other than chunked, 502/504 when the model server is away or late;
- a connection that has not sent its whole head within IMAGE_CLASSIFIER_HEADER_TIMEOUT, or whose body pauses
  longer than IMAGE_CLASSIFIER_BODY_TIMEOUT, is reset (nginx terminates a timed-out request and can write no
  408 for it: docs/serving-design.md); an idle keep-alive connection is closed after IMAGE_CLASSIFIER_KEEPALIVE_TIMEOUT;
- /ping: 200 while the runtime directory's ready file exists (runtime.py), else 503, without a worker.
Every answer nginx writes itself is the one-line JSON the app gives: {"error": "..."} (error_page to an internal
location per status). Connections: MAX_CONNECTIONS per nginx worker, each idle one a file descriptor, within
the file limit the launcher finds (``worker_rlimit_nofile``). With ``serve`` as root, nginx's workers run as
``nobody``; as any other user there is no ``user`` directive (nginx then keeps the user it was started as).
"""

import json

from .runtime import RuntimeDir
from .settings import Settings

MAX_CONNECTIONS = 16384  # per nginx worker: 10,000 idle connections on one worker, and room for the busy ones
RESERVED_FILES = 64  # file descriptors besides client connections: logs, listeners, upstream and temp files
HEADER_BUFFER = "8k"  # the longest request line or header line nginx takes
CLIENT_BODY_BUFFER = "1m"  # a body over this waits for gunicorn in a file of the runtime directory
SEND_TIMEOUT = 60  # seconds a client may take between two reads of its answer (slow readers)
DRAIN_TIMEOUT = 20  # seconds nginx finishes open requests after SIGQUIT; gunicorn's share of 25 s comes after
UPSTREAM_MARGIN = 5  # seconds past SAGEMAKER_MODEL_SERVER_TIMEOUT that nginx waits for gunicorn's answer
LISTEN_BACKLOG = 4096
FORBIDDEN_IN_TEXT = ("'", "\\", "$")  # would end, escape or interpolate an nginx string


def error_messages(settings: Settings) -> dict[int, tuple[str, str]]:
    """Status -> (reason, what went wrong and the fix) for the answers nginx writes itself."""
    return {
        400: (
            "Bad Request",
            "the request is not well-formed HTTP/1.1 (send one Content-Length or "
            "Transfer-Encoding: chunked with well-formed chunks, not both)",
        ),
        405: ("Method Not Allowed", "/ping takes GET"),
        411: ("Length Required", "send the body with Content-Length or Transfer-Encoding: chunked"),
        413: ("Payload Too Large", f"The request body is larger than {settings.payload_limit_text()} allows"),
        414: (
            "URI Too Long",
            f"the request line is over {HEADER_BUFFER} bytes; send options in headers "
            "(X-Amzn-SageMaker-Custom-Attributes)",
        ),
        431: (
            "Request Header Fields Too Large",
            f"send shorter header fields (each under {HEADER_BUFFER} bytes, all of them under 4 x {HEADER_BUFFER})",
        ),
        500: ("Internal Server Error", "the endpoint log has the details"),
        501: ("Not Implemented", "send the body with Content-Length or Transfer-Encoding: chunked"),
        502: ("Bad Gateway", "the model server is not running (starting, or restarting a worker); retry"),
        503: (
            "Service Unavailable",
            "no worker is up yet; retry" if settings.multi_model else "no worker holds its model yet; retry",
        ),
        504: (
            "Gateway Timeout",
            f"the model did not answer within SAGEMAKER_MODEL_SERVER_TIMEOUT ({settings.timeout} s)",
        ),
        505: ("HTTP Version Not Supported", "send HTTP/1.1 or HTTP/1.0"),
    }


def error_body(reason: str, message: str) -> str:
    text = json.dumps({"error": f"{reason}: {message}"}) + "\n"
    if any(character in text for character in FORBIDDEN_IN_TEXT):
        raise ValueError(f"nginx cannot return {text!r} as it is")
    return text


def _error_pages(settings):
    lines = []
    for status, (reason, message) in error_messages(settings).items():
        nginx_status = 494 if status == 431 else status  # nginx's own code for a header line too large
        renamed = f"={status} " if nginx_status != status else ""
        lines.append(f"        error_page {nginx_status} {renamed}/_error/{status};")
        lines.append(
            f"        location = /_error/{status} {{ internal; default_type application/json; "
            f"return {status} '{error_body(reason, message)}'; }}"
        )
    return "\n".join(lines)


def file_limit(hard_limit: int) -> int:
    """The open files each nginx worker asks for: enough for MAX_CONNECTIONS proxied (two descriptors each),
    within the hard limit a non-root process cannot raise."""
    return min(hard_limit, 2 * MAX_CONNECTIONS + RESERVED_FILES)


def render(settings: Settings, runtime: RuntimeDir, as_root: bool, open_files: int) -> str:
    """nginx.conf for ``settings``, every path under ``runtime``; ``open_files`` from file_limit()."""
    root = runtime.root
    connections = min(MAX_CONNECTIONS, open_files - RESERVED_FILES)
    body_mb = settings.max_payload_mb  # 0: no limit; the app bounds what it holds (body.py)
    user = "user nobody nogroup;\n" if as_root else ""
    return f"""# Written by `serve` for this run (serving/nginx_config.py).
daemon off;
pid {root}/nginx.pid;
error_log stderr warn;
{user}worker_processes auto;
worker_rlimit_nofile {open_files};
worker_shutdown_timeout {DRAIN_TIMEOUT}s;
events {{
    worker_connections {connections};
}}
http {{
    access_log off;
    server_tokens off;
    default_type application/json;
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    client_header_timeout {settings.header_timeout}s;
    client_body_timeout {settings.body_timeout}s;
    send_timeout {SEND_TIMEOUT}s;
    keepalive_timeout {settings.keepalive_timeout}s;
    reset_timedout_connection on;
    client_header_buffer_size 1k;
    large_client_header_buffers 4 {HEADER_BUFFER};
    client_max_body_size {body_mb}{"m" if body_mb else ""};
    client_body_buffer_size {CLIENT_BODY_BUFFER};
    upstream model_server {{
        server unix:{runtime.socket};
    }}
    server {{
        listen {settings.host}:{settings.port} backlog={LISTEN_BACKLOG};
        location = /ping {{
            if ($request_method !~ ^(GET|HEAD)$) {{ return 405; }}
            if (!-f {runtime.ready_file}) {{ return 503; }}
            return 200;
        }}
        location / {{
            proxy_pass http://model_server;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout {settings.timeout + UPSTREAM_MARGIN}s;
            proxy_send_timeout {settings.timeout + UPSTREAM_MARGIN}s;
            proxy_next_upstream off;
        }}
{_error_pages(settings)}
    }}
}}
"""
