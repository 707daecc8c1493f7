# Stand-in for nixos/modules/profiles/qemu-guest.nix: virtio drivers only,
# nothing our checks look at.
{ }
