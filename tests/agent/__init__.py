"""The station agent against real parts: a real player process, real files, real sshd."""
