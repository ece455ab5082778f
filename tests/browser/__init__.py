"""The browser test: every notebook run in a real JupyterLab in headless Chromium."""
