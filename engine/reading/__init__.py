"""What readers see: case views for every reader, the trail, statistics, audit search and export, export
verification."""
