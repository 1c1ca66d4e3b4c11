"""The pure core of flychat: rooms, messages, ports and the services that use them."""
