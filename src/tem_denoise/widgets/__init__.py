"""napari dock widgets: thin glue between layers and the plain functions of the package."""
