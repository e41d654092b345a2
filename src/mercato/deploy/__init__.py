"""Deployment artefacts generated from the service catalog: Kubernetes, compose, Terraform.

Nothing here runs inside a service image; ``mercato render`` writes the files under
``deploy/`` and the tests check that the committed files equal what it writes.
"""
