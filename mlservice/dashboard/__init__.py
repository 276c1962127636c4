"""What the Streamlit dashboard uses: its settings, the REST client and display helpers (no core imports)."""
