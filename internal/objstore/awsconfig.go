package objstore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// defaultConfig uses the standard credential chain: environment variables,
// shared config, web identity (IRSA), EKS Pod Identity and instance roles.
func defaultConfig(ctx context.Context, region string) (aws.Config, error) {
	c, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
	if err != nil {
		return aws.Config{}, fmt.Errorf("load aws config: %w", err)
	}
	return c, nil
}
