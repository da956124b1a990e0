"""Dashboards Omniboard cannot show: static plotly pages, N-way run comparison, exports, over run queries."""
