# Production image (documented topology: docker-compose.yml). Python 3.11, Django 5.2 LTS.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm postgresql-client \
    libpango-1.0-0 libpangoft2-1.0-0 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt package.json .npmrc ./
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN bash scripts/vendor.sh && PORTAL_ENV=build python manage.py collectstatic --noinput
RUN useradd --system tenantry && chown -R tenantry /app
USER tenantry
EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "--proxy-headers", "portal.asgi:application"]
