"""The docker-free local stack: emulator + moto server + an API Gateway-like HTTP front."""
