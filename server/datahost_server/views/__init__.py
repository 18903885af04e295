"""The DataHost's views: the protocol's endpoints (JSON) and the pages people use."""
