import { BlockList, isIPv4 } from "node:net";
import type { FastifyRequest } from "fastify";

// Loopback and the private ranges a cluster, a compose network or a LAN uses.
const privateNetworks = new BlockList();
privateNetworks.addSubnet("127.0.0.0", 8, "ipv4");
privateNetworks.addSubnet("10.0.0.0", 8, "ipv4");
privateNetworks.addSubnet("172.16.0.0", 12, "ipv4");
privateNetworks.addSubnet("192.168.0.0", 16, "ipv4");
privateNetworks.addSubnet("100.64.0.0", 10, "ipv4"); // shared address space (some pod networks)
privateNetworks.addAddress("::1", "ipv6");
privateNetworks.addSubnet("fc00::", 7, "ipv6"); // unique local addresses

const MAPPED_IPV4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

/** Loopback or a private network address (IPv4, IPv6, or IPv4 mapped into IPv6). */
export function isPrivateAddress(address: string): boolean {
  const ipv4 = MAPPED_IPV4.exec(address)?.[1] ?? address;
  if (isIPv4(ipv4)) return privateNetworks.check(ipv4, "ipv4");
  try {
    return privateNetworks.check(address, "ipv6");
  } catch {
    return false;
  }
}

/**
 * The edge is the public port, so its `/metrics` (instance ids, routes, traffic) answers
 * only what Prometheus sends: a direct request from loopback or a private network. A
 * request that passed a proxy or an ingress (it carries forwarding headers, which a client
 * cannot strip from what the proxy adds) or comes from a public address gets a 404.
 */
export function isDirectPrivateRequest(request: FastifyRequest): boolean {
  const { headers } = request;
  if (headers["x-forwarded-for"] !== undefined || headers.forwarded !== undefined) return false;
  if (headers["x-real-ip"] !== undefined) return false;
  return isPrivateAddress(request.socket.remoteAddress ?? "");
}
