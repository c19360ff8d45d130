"""A small AWS client for the serving runtime, standard library only.

The runtime makes exactly three kinds of AWS call: GET one S3 object (the model), read one
Secrets Manager secret (API keys), and, to get there, find credentials the way the SDKs do
inside a container. boto3 + botocore would add ~100 MB to every image for that, so these
modules do it themselves: `credentials` (the provider chain), `sigv4` (request signing),
`s3` and `secrets` (the two calls), over `transport` (http.client with timeouts). Like the
SDKs, https calls honour HTTPS_PROXY / NO_PROXY (a CONNECT tunnel) and AWS_CA_BUNDLE; the
link-local credential endpoints are never proxied.

Its signatures are checked against botocore's own and its calls against a moto server in the
tests (tests/serving/test_aws_client.py); botocore is a test dependency only.
"""
