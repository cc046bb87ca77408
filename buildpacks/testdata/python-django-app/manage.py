#!/usr/bin/env python
"""The shape of a Django project's manage.py: the buildpack runs
`python manage.py collectstatic --noinput`, which copies static/ into
STATIC_ROOT (staticfiles/), and the web process serves what was collected."""
import http.server
import os
import shutil
import sys

import django  # the buildpack runs collectstatic only where Django is installed

STATIC_ROOT = "staticfiles"


def collectstatic():
    os.makedirs(STATIC_ROOT, exist_ok=True)
    n = 0
    for name in sorted(os.listdir("static")):
        shutil.copy(os.path.join("static", name), os.path.join(STATIC_ROOT, name))
        n += 1
    print("%d static file copied to '%s' (Django %s, SECRET_KEY %s)." % (n, STATIC_ROOT, django.__version__, "set" if os.environ.get("SECRET_KEY") else "unset"))


def runserver():
    os.chdir(STATIC_ROOT if os.path.isdir(STATIC_ROOT) else ".")
    handler = http.server.SimpleHTTPRequestHandler
    http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), handler).serve_forever()


if __name__ == "__main__":
    cmd = sys.argv[1:]
    if cmd == ["collectstatic", "--noinput"]:
        collectstatic()
    elif cmd[:1] == ["runserver"]:
        runserver()
    else:
        sys.exit("unknown command %r" % cmd)
