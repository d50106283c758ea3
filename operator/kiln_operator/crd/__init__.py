"""The ModelService CustomResourceDefinition, shipped as package data."""
