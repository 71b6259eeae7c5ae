import { type SwitchyardConfig } from '../config/config.schema';
import { DnsProviderError, type DnsProvider } from './dns.port';
import { PowerDnsProvider } from './powerdns.dns';
import { Route53DnsProvider } from './route53.dns';

/** One provider per `dnsProviders` entry of switchyard.yaml, keyed by its name. */
export function createDnsProviders(config: Pick<SwitchyardConfig, 'dnsProviders'>): Map<string, DnsProvider> {
  const providers = new Map<string, DnsProvider>();
  for (const [name, provider] of Object.entries(config.dnsProviders)) {
    switch (provider.type) {
      case 'route53':
        providers.set(name, new Route53DnsProvider(name, provider));
        break;
      case 'powerdns':
        providers.set(name, new PowerDnsProvider(name, provider));
        break;
      default: {
        const unknown: never = provider;
        throw new Error(`dnsProviders.${name}: unsupported type ${JSON.stringify(unknown)}`);
      }
    }
  }
  return providers;
}

/** The provider named `name`; a non-retryable DnsProviderError listing the known names otherwise. */
export function dnsProviderFor(providers: ReadonlyMap<string, DnsProvider>, name: string): DnsProvider {
  const provider = providers.get(name);
  if (!provider) {
    const known = [...providers.keys()].sort().join(', ') || 'none';
    throw new DnsProviderError(`unknown DNS provider "${name}" (defined: ${known})`, name, false);
  }
  return provider;
}
