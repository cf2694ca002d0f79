"""Drivers: each talks to one outside world (sound card, window, OSC, files) for a machine.

Nothing is imported here, so that importing one driver never loads another's
device library (PortAudio, GL, sockets).
"""
