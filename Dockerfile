# A plain (not editable) install of the package, with torch from PyTorch's CPU index.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    QA_INDEX_DIR=/data/qa-index QA_HOST=0.0.0.0 QA_PORT=8000

RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md /src/
COPY core /src/core
COPY qa /src/qa
COPY indexer /src/indexer
COPY web /src/web
# The demo articles and the models are package data: nothing is read from /src afterwards.
RUN pip install --no-cache-dir "torch==2.13.0" /src && rm -rf /src

WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
ENTRYPOINT ["qa-serve"]
