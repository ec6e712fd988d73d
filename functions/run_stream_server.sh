#!/bin/sh
# StreamFunction's startup command (template.yaml): the Lambda Web Adapter runs this, waits until the app
# answers on $PORT, then forwards each Function URL request to it and streams the response back.
# Layers' Python packages (SearchRuntimeLayer: numpy, tokenizers) are in /opt/python; put them on this
# process's path explicitly, whatever the runtime's bootstrap exported.
export PYTHONPATH="/opt/python${PYTHONPATH:+:$PYTHONPATH}"
exec python -m uvicorn api.asgi:app --host 127.0.0.1 --port "${PORT:-8080}" --no-access-log
