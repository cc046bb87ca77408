#!/bin/sh
echo "procfile app on $PORT"
