"""Tests of the ECS platform."""
