"""The web page served at / (HTML, JS and CSS only; nothing is loaded from anywhere else)."""
